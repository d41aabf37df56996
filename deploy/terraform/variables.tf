# ---- naming and network -----------------------------------------------------------------------

variable "name" {
  description = "Prefix for every resource name (cluster, services, log groups, secrets, database)."
  type        = string
  default     = "scaffolder"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.name))
    error_message = "name must be 1-21 characters of a-z, 0-9 and '-', starting with a letter (load balancer names are limited to 32)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes them."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "The VPC to deploy into (this module does not create one)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets for the load balancer (public ones, unless alb_internal is true); at least two availability zones."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets for the ECS tasks. They need a route to ECR, CloudWatch Logs, Secrets Manager, Cognito and GitHub (a NAT gateway or VPC endpoints)."
  type        = list(string)
}

variable "database_subnet_ids" {
  description = "Subnets for the database (at least two availability zones); null means private_subnet_ids."
  type        = list(string)
  default     = null
}

variable "alb_internal" {
  description = "Make the load balancer internal (reachable only from inside the VPC)."
  type        = bool
  default     = false
}

variable "alb_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the load balancer on ports 80 and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate for the HTTPS listener."
  type        = string
}

variable "base_url" {
  description = "The service's public URL (backend.baseUrl), e.g. https://scaffolder.example.com; null leaves it unset."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Protect the load balancer, the database and the Cognito user pool from deletion, and take a final database snapshot. Turn off only for throw-away environments."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "How long CloudWatch keeps the services' logs."
  type        = number
  default     = 30
}

# ---- image ------------------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the image in this module's ECR repository run by the API, the workers and the janitor."
  type        = string
}

variable "migrate_image_tag" {
  description = "Tag run by the migrate task; null means image_tag. Set it to the new tag first, run the migrate task, then move image_tag (see README.md, Releasing)."
  type        = string
  default     = null
}

variable "cpu_architecture" {
  description = "CPU architecture the image was built for: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "extra_environment" {
  description = "More environment variables for every scaffolder container, typically APP_CONFIG_<path> overrides (e.g. APP_CONFIG_catalog_locations = jsonencode([...])). They win over the module's own."
  type        = map(string)
  default     = {}
}

# ---- sizing (see README.md for development, staging and production values) -------------------

variable "api_cpu" {
  description = "CPU units of one API task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "api_memory" {
  description = "Memory (MiB) of one API task."
  type        = number
  default     = 1024
}

variable "api_desired_count" {
  description = "Number of API tasks behind the load balancer."
  type        = number
  default     = 2
}

variable "worker_cpu" {
  description = "CPU units of one worker task."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory (MiB) of one worker task."
  type        = number
  default     = 2048
}

variable "worker_min_count" {
  description = "Fewest worker tasks. At least 1: the scaling metric is divided by the number of running workers."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_min_count >= 1
    error_message = "worker_min_count must be at least 1."
  }
}

variable "worker_max_count" {
  description = "Most worker tasks."
  type        = number
  default     = 4
}

variable "worker_concurrency" {
  description = "scaffolder.concurrentTasksLimit of each worker: tasks one worker runs at once."
  type        = number
  default     = 10

  validation {
    condition     = var.worker_concurrency >= 1
    error_message = "worker_concurrency must be at least 1."
  }
}

variable "worker_target_tasks_per_worker" {
  description = "Scaling target: open plus processing tasks per running worker. Below worker_concurrency leaves headroom (8 of 10 slots busy by default)."
  type        = number
  default     = 8

  validation {
    condition     = var.worker_target_tasks_per_worker > 0
    error_message = "worker_target_tasks_per_worker must be positive."
  }
}

variable "worker_ephemeral_storage_gib" {
  description = "Task storage of a worker (workspaces live there), 21-200 GiB; null keeps Fargate's default of 20 GiB."
  type        = number
  default     = null

  validation {
    condition     = var.worker_ephemeral_storage_gib == null ? true : var.worker_ephemeral_storage_gib >= 21 && var.worker_ephemeral_storage_gib <= 200
    error_message = "worker_ephemeral_storage_gib must be null or between 21 and 200."
  }
}

variable "janitor_schedule" {
  description = "EventBridge Scheduler expression for `scaffolder janitor --once`."
  type        = string
  default     = "rate(5 minutes)"
}

variable "shutdown_grace_period_seconds" {
  description = "scaffolder.shutdownGracePeriod: on SIGTERM, how long running tasks may finish before they are handed back."
  type        = number
  default     = 25
}

variable "stop_timeout_seconds" {
  description = "ECS stopTimeout of the scaffolder containers (SIGTERM to SIGKILL), at most 120 on Fargate. Must exceed shutdown_grace_period_seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "stop_timeout_seconds must be between 2 and 120 (Fargate's limit)."
  }
}

# ---- database ---------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t3.small"
}

variable "db_engine_version" {
  description = "PostgreSQL version (a major version picks RDS's default minor)."
  type        = string
  default     = "16"
}

variable "db_allocated_storage" {
  description = "Initial storage (GiB)."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB)."
  type        = number
  default     = 200
}

variable "db_multi_az" {
  description = "Run a standby in a second availability zone."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Days of automated backups."
  type        = number
  default     = 7
}

variable "db_pool_max" {
  description = "backend.database.knexConfig.pool.max: connections per scaffolder process. Keep (api_desired_count + worker_max_count + 2) x this below the instance's max_connections."
  type        = number
  default     = 10
}

# ---- authentication (Cognito) -----------------------------------------------------------------

variable "auth_environment" {
  description = "auth.environment: the key under auth.providers.cognito that holds this deployment's settings."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]*$", var.auth_environment))
    error_message = "auth_environment must start with a letter and contain only letters, digits and '-' (it becomes part of an APP_CONFIG_ variable name)."
  }
}

variable "cognito_domain_prefix" {
  description = "Prefix of the Cognito hosted UI domain (<prefix>.auth.<region>.amazoncognito.com); unique within the region."
  type        = string
}

variable "cognito_callback_urls" {
  description = "OAuth callback URLs of the app client, e.g. https://backstage.example.com/api/auth/cognito/handler/frame for a Backstage frontend."
  type        = list(string)

  validation {
    condition     = length(var.cognito_callback_urls) > 0
    error_message = "cognito_callback_urls needs at least one URL."
  }
}

variable "cognito_logout_urls" {
  description = "Sign-out URLs of the app client."
  type        = list(string)
  default     = []
}

variable "cognito_mfa_configuration" {
  description = "Multi-factor authentication for the user pool: OPTIONAL or ON (authenticator apps)."
  type        = string
  default     = "OPTIONAL"

  validation {
    condition     = contains(["OPTIONAL", "ON"], var.cognito_mfa_configuration)
    error_message = "cognito_mfa_configuration must be OPTIONAL or ON."
  }
}

variable "sign_in_resolver" {
  description = "How a Cognito token is matched to a catalog User (auth.providers.cognito.<env>.signIn.resolvers)."
  type        = string
  default     = "emailMatchingUserEntityProfileEmail"

  validation {
    condition = contains([
      "emailMatchingUserEntityProfileEmail",
      "emailLocalPartMatchingUserEntityName",
      "usernameMatchingUserEntityName",
    ], var.sign_in_resolver)
    error_message = "sign_in_resolver must be emailMatchingUserEntityProfileEmail, emailLocalPartMatchingUserEntityName or usernameMatchingUserEntityName."
  }
}

# ---- GitHub App (integrations.github) ---------------------------------------------------------

variable "github_app_id" {
  description = "The GitHub App's id; null configures no GitHub credentials (github.com stays readable anonymously)."
  type        = number
  default     = null
}

variable "github_app_private_key" {
  description = "The GitHub App's private key (PEM). Stored in Secrets Manager, and therefore also in the Terraform state. Required with github_app_id."
  type        = string
  default     = null
  sensitive   = true
}

variable "github_host" {
  description = "GitHub host: github.com or a GitHub Enterprise Server host name."
  type        = string
  default     = "github.com"
}

variable "github_api_base_url" {
  description = "GitHub REST API URL; null means the default (https://api.github.com, or https://<host>/api/v3 for Enterprise)."
  type        = string
  default     = null
}

variable "github_app_allowed_installation_owners" {
  description = "If not empty, the only organisations or users whose App installations may be used."
  type        = list(string)
  default     = []
}

# ---- metrics sidecar --------------------------------------------------------------------------

variable "otel_collector_image" {
  description = "AWS Distro for OpenTelemetry collector image run beside each worker to publish the queue depth to CloudWatch."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}
