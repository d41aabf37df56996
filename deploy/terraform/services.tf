# Task definitions and services. Every scaffolder container runs the same image with a different
# command (DESIGN.md §2): `api` behind the load balancer, `worker` autoscaled on queue depth,
# `janitor --once` on a schedule (schedule.tf) and `migrate` as a one-off release step.
#
# Stopping: ECS sends SIGTERM, then SIGKILL after stopTimeout. A worker stops claiming at once and
# gives running tasks scaffolder.shutdownGracePeriod to finish before handing them back to the
# queue, so stopTimeout must be longer than that grace period (30 s against 25 s by default).

locals {
  scaffolder_container = {
    name      = "scaffolder"
    essential = true
    # Fargate's maximum is 120 s.
    stopTimeout = var.stop_timeout_seconds
  }

  stop_timeout_check = var.stop_timeout_seconds > var.shutdown_grace_period_seconds

  # One log group per role; the collector sidecar writes into its own group under the worker's
  # stream prefix.
  log_configuration = {
    for role, stream in { api = "api", worker = "worker", otel = "worker", janitor = "janitor", migrate = "migrate" } :
    role => {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.role[role].name
        awslogs-region        = local.region
        awslogs-stream-prefix = stream
      }
    }
  }
}

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([merge(local.scaffolder_container, {
    image            = local.image
    command          = ["api"]
    portMappings     = [{ containerPort = local.port, protocol = "tcp" }]
    environment      = [for name, value in local.api_environment : { name = name, value = value }]
    secrets          = local.api_secrets
    healthCheck      = local.http_health_check
    logConfiguration = local.log_configuration["api"]
  })])

  lifecycle {
    precondition {
      condition     = local.stop_timeout_check
      error_message = "stop_timeout_seconds must be greater than shutdown_grace_period_seconds."
    }
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.worker.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Workspaces (backend.workingDirectory) live on the task's ephemeral storage.
  dynamic "ephemeral_storage" {
    for_each = var.worker_ephemeral_storage_gib == null ? [] : [var.worker_ephemeral_storage_gib]
    content {
      size_in_gib = ephemeral_storage.value
    }
  }

  container_definitions = jsonencode([
    merge(local.scaffolder_container, {
      image            = local.image
      command          = ["worker"]
      environment      = [for name, value in local.worker_environment : { name = name, value = value }]
      secrets          = local.worker_secrets
      healthCheck      = local.http_health_check
      logConfiguration = local.log_configuration["worker"]
    }),
    {
      # Scrapes this worker's /metrics over localhost and publishes the queue depth to CloudWatch
      # (autoscaling.tf). Not essential: if it stops, the worker keeps working and scaling pauses.
      name             = "otel-collector"
      image            = var.otel_collector_image
      essential        = false
      environment      = [{ name = "AOT_CONFIG_CONTENT", value = local.otel_collector_config }]
      logConfiguration = local.log_configuration["otel"]
    },
  ])

  lifecycle {
    precondition {
      condition     = local.stop_timeout_check
      error_message = "stop_timeout_seconds must be greater than shutdown_grace_period_seconds."
    }
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "janitor" {
  family                   = "${var.name}-janitor"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([merge(local.scaffolder_container, {
    image            = local.image
    command          = ["janitor", "--once"]
    environment      = [for name, value in local.task_environment : { name = name, value = value }]
    secrets          = local.task_secrets
    logConfiguration = local.log_configuration["janitor"]
  })])

  tags = var.tags
}

# Run once per release, before the services move to the new image (README.md, Releasing). Its
# image is migrate_image_tag when set, so it can run ahead of the services.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([merge(local.scaffolder_container, {
    image            = local.migrate_image
    command          = ["migrate"]
    environment      = [for name, value in local.task_environment : { name = name, value = value }]
    secrets          = local.task_secrets
    logConfiguration = local.log_configuration["migrate"]
  })])

  tags = var.tags
}

resource "aws_ecs_service" "api" {
  name            = "${var.name}-api"
  cluster         = aws_ecs_cluster.scaffolder.id
  task_definition = aws_ecs_task_definition.api.arn
  desired_count   = var.api_desired_count
  launch_type     = "FARGATE"

  # New tasks start and pass the load balancer's health check before old ones are drained.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 60

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.api.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "scaffolder"
    container_port   = local.port
  }

  # Tasks read their secrets when they start: the values must exist by then.
  depends_on = [
    aws_lb_listener.https,
    aws_iam_role_policy.execution,
    aws_secretsmanager_secret_version.database_url,
    aws_secretsmanager_secret_version.cognito_client_secret,
    aws_secretsmanager_secret_version.github_integration,
  ]

  tags = var.tags
}

resource "aws_ecs_service" "worker" {
  name            = "${var.name}-worker"
  cluster         = aws_ecs_cluster.scaffolder.id
  task_definition = aws_ecs_task_definition.worker.arn
  desired_count   = var.worker_min_count
  launch_type     = "FARGATE"

  # Old workers keep running until their replacements are healthy; a stopped worker hands its
  # unfinished tasks back to the queue (see the top of this file).
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  # Application Auto Scaling owns the number of workers (autoscaling.tf).
  lifecycle {
    ignore_changes = [desired_count]
  }

  depends_on = [
    aws_iam_role_policy.execution,
    aws_iam_role_policy.worker,
    aws_secretsmanager_secret_version.database_url,
    aws_secretsmanager_secret_version.github_integration,
  ]

  tags = var.tags
}
