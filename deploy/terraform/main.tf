# The scaffolder on ECS Fargate: an API service behind an ALB, an autoscaled worker service, the
# janitor as a scheduled task and migrations as a one-off task, on RDS PostgreSQL, with secrets in
# Secrets Manager and users in Cognito. See README.md.

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  region = data.aws_region.current.name

  database_subnet_ids = coalesce(var.database_subnet_ids, var.private_subnet_ids)

  image         = "${aws_ecr_repository.scaffolder.repository_url}:${var.image_tag}"
  migrate_image = "${aws_ecr_repository.scaffolder.repository_url}:${coalesce(var.migrate_image_tag, var.image_tag)}"

  # The port every scaffolder container listens on (backend.listen in the image's configuration).
  port = 7007

  # ECS health check for processes that serve /healthcheck (api, worker): 200 only while the
  # database answers and, in a worker, the claim loop is turning. curl is in the image.
  http_health_check = {
    command     = ["CMD", "curl", "--fail", "--silent", "--show-error", "--output", "/dev/null", "http://127.0.0.1:${local.port}/healthcheck"]
    interval    = 15
    timeout     = 5
    retries     = 3
    startPeriod = 30
  }

  # Configuration every scaffolder process gets. The image's /etc/scaffolder/app-config.yaml reads
  # the database from ${DATABASE_URL} (injected from Secrets Manager below); APP_CONFIG_<path>
  # variables override single keys (docs/configuration.md).
  common_environment = merge(
    {
      # One JSON object per log line, for CloudWatch Logs Insights.
      LOG_FORMAT = "json"
      # On SIGTERM: stop claiming, let running tasks finish for this long, then hand them back.
      APP_CONFIG_scaffolder_shutdownGracePeriod       = "${var.shutdown_grace_period_seconds}s"
      APP_CONFIG_backend_database_knexConfig_pool_max = tostring(var.db_pool_max)
    },
    var.base_url == null ? {} : { APP_CONFIG_backend_baseUrl = var.base_url },
  )

  # User tokens from the Cognito user pool (auth.providers.cognito.<environment>); only the API
  # authenticates requests.
  cognito_config_prefix = "APP_CONFIG_auth_providers_cognito_${var.auth_environment}"
  api_environment = merge(
    local.common_environment,
    {
      APP_CONFIG_auth_environment               = var.auth_environment
      "${local.cognito_config_prefix}_issuer"   = local.cognito_issuer
      "${local.cognito_config_prefix}_clientId" = aws_cognito_user_pool_client.scaffolder.id
      "${local.cognito_config_prefix}_signIn"   = jsonencode({ resolvers = [{ resolver = var.sign_in_resolver }] })
    },
    var.extra_environment,
  )
  worker_environment = merge(
    local.common_environment,
    { APP_CONFIG_scaffolder_concurrentTasksLimit = tostring(var.worker_concurrency) },
    var.extra_environment,
  )
  task_environment = merge(local.common_environment, var.extra_environment)

  # Secrets become environment variables when a task starts (so a changed secret reaches running
  # services with their next deployment).
  database_secret = [{ name = "DATABASE_URL", valueFrom = aws_secretsmanager_secret.database_url.arn }]
  github_secret = local.github_enabled ? [{
    # The whole integrations.github list, private key included, as a JSON override.
    name      = "APP_CONFIG_integrations_github"
    valueFrom = aws_secretsmanager_secret.github_integration[0].arn
  }] : []
  cognito_secret = [{
    name      = "${local.cognito_config_prefix}_clientSecret"
    valueFrom = aws_secretsmanager_secret.cognito_client_secret.arn
  }]

  api_secrets    = concat(local.database_secret, local.github_secret, local.cognito_secret)
  worker_secrets = concat(local.database_secret, local.github_secret)
  task_secrets   = local.database_secret
}

resource "aws_ecs_cluster" "scaffolder" {
  name = var.name

  # Container Insights publishes ECS/ContainerInsights RunningTaskCount, the denominator of the
  # workers' scaling metric (autoscaling.tf).
  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_ecr_repository" "scaffolder" {
  name = var.name
  # Every release is a new tag; a tag never moves, so a task definition always means one image.
  image_tag_mutability = "IMMUTABLE"
  force_delete         = !var.deletion_protection

  image_scanning_configuration {
    scan_on_push = true
  }

  tags = var.tags
}

# One log group per container role; `otel` holds the metrics sidecar's own logs.
resource "aws_cloudwatch_log_group" "role" {
  for_each = {
    api     = "api"
    worker  = "worker"
    janitor = "janitor"
    migrate = "migrate"
    otel    = "otel-collector"
  }
  name              = "/ecs/${var.name}/${each.value}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# Embedded-metric-format records written by the metrics sidecar; CloudWatch turns them into the
# metrics in namespace local.metrics_namespace. Only the metric matters, so they are kept briefly.
resource "aws_cloudwatch_log_group" "metrics" {
  name              = "/ecs/${var.name}/metrics"
  retention_in_days = 1
  tags              = var.tags
}
