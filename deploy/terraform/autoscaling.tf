# Workers scale on the queue.
#
# Where the metric comes from: every scaffolder process serves Prometheus metrics at /metrics,
# among them scaffolder_queue_depth{status="open"|"processing"|...}, the number of tasks per
# status, counted in the database at scrape time (so every process reports the same, fleet-wide
# numbers). The scaffolder cannot write to CloudWatch itself, so each worker task runs an AWS
# Distro for OpenTelemetry collector beside it: it scrapes the worker's /metrics over localhost
# every 30 s, keeps only scaffolder_queue_depth, and writes it in CloudWatch's embedded metric
# format to a log group, from which CloudWatch extracts the metric
# <local.metrics_namespace>/scaffolder_queue_depth with the single dimension `status`. All
# workers publish the same value, so the Average over them is that value.
#
# What is tracked: (open + processing) tasks per running worker task (RunningTaskCount from
# Container Insights), kept near worker_target_tasks_per_worker. That number goes down as
# workers are added and up as the queue grows, which is what target tracking needs. With nothing
# queued it is 0 and the service shrinks to worker_min_count; a worker removed by scale-in stops
# claiming and hands back what it cannot finish within the grace period.

locals {
  metrics_namespace = "Scaffolder/${var.name}"

  otel_collector_config = yamlencode({
    receivers = {
      prometheus = {
        config = {
          scrape_configs = [{
            job_name        = "scaffolder-worker"
            scrape_interval = "30s"
            metrics_path    = "/metrics"
            static_configs  = [{ targets = ["127.0.0.1:${local.port}"] }]
            metric_relabel_configs = [{
              source_labels = ["__name__"]
              regex         = "scaffolder_queue_depth"
              action        = "keep"
            }]
          }]
        }
      }
    }
    exporters = {
      awsemf = {
        region                  = local.region
        namespace               = local.metrics_namespace
        log_group_name          = aws_cloudwatch_log_group.metrics.name
        dimension_rollup_option = "NoDimensionRollup"
        metric_declarations = [{
          dimensions            = [["status"]]
          metric_name_selectors = ["scaffolder_queue_depth"]
        }]
      }
    }
    service = {
      pipelines = {
        metrics = {
          receivers = ["prometheus"]
          exporters = ["awsemf"]
        }
      }
    }
  })
}

resource "aws_appautoscaling_target" "worker" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.scaffolder.name}/${aws_ecs_service.worker.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.worker_min_count
  max_capacity       = var.worker_max_count

  lifecycle {
    precondition {
      condition     = var.worker_max_count >= var.worker_min_count
      error_message = "worker_max_count must be at least worker_min_count."
    }
  }

  tags = var.tags
}

resource "aws_appautoscaling_policy" "worker_queue" {
  name               = "${var.name}-worker-queue"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.worker.service_namespace
  resource_id        = aws_appautoscaling_target.worker.resource_id
  scalable_dimension = aws_appautoscaling_target.worker.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.worker_target_tasks_per_worker
    scale_out_cooldown = 60
    scale_in_cooldown  = 300

    customized_metric_specification {
      metrics {
        id          = "open"
        label       = "Open tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = local.metrics_namespace
            metric_name = "scaffolder_queue_depth"

            dimensions {
              name  = "status"
              value = "open"
            }
          }
        }
      }

      metrics {
        id          = "processing"
        label       = "Processing tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = local.metrics_namespace
            metric_name = "scaffolder_queue_depth"

            dimensions {
              name  = "status"
              value = "processing"
            }
          }
        }
      }

      metrics {
        id          = "workers"
        label       = "Running worker tasks"
        return_data = false

        metric_stat {
          stat = "Average"

          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"

            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.scaffolder.name
            }

            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.worker.name
            }
          }
        }
      }

      metrics {
        id          = "tasks_per_worker"
        label       = "Open and processing tasks per running worker"
        expression  = "(open + processing) / workers"
        return_data = true
      }
    }
  }
}
