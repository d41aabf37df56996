# The janitor: `scaffolder janitor --once` as a scheduled Fargate task. One sweep recovers tasks
# whose worker stopped heartbeating, fails timed-out ones and prunes old ones; it is idempotent
# and safe to run beside the workers' own sweeps, so an overlapping or missed run does no harm.

resource "aws_scheduler_schedule" "janitor" {
  name                = "${var.name}-janitor"
  description         = "scaffolder janitor --once"
  schedule_expression = var.janitor_schedule

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_ecs_cluster.scaffolder.arn
    role_arn = aws_iam_role.scheduler.arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.janitor.arn
      launch_type         = "FARGATE"
      task_count          = 1

      network_configuration {
        subnets          = var.private_subnet_ids
        security_groups  = [aws_security_group.tasks.id]
        assign_public_ip = false
      }
    }

    # The next run comes soon enough; do not pile up retries.
    retry_policy {
      maximum_retry_attempts = 0
    }
  }

  depends_on = [aws_iam_role_policy.scheduler, aws_secretsmanager_secret_version.database_url]
}
