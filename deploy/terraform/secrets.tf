# Secrets Manager: the database URL, the GitHub App (integrations.github with its private key) and
# the Cognito app client's secret. The execution role may read exactly these (iam.tf); ECS injects
# them as environment variables when a task starts.

locals {
  github_enabled = var.github_app_id != null

  # integrations.github as Backstage writes it, set whole through APP_CONFIG_integrations_github.
  # A null (apiBaseUrl) counts as absent; an empty allowedInstallationOwners allows every owner.
  github_integration = [{
    host       = var.github_host
    apiBaseUrl = var.github_api_base_url
    apps = [{
      appId                     = var.github_app_id
      privateKey                = var.github_app_private_key
      allowedInstallationOwners = var.github_app_allowed_installation_owners
    }]
  }]
}

resource "aws_secretsmanager_secret" "database_url" {
  name                    = "${var.name}/database-url"
  description             = "PostgreSQL URL of the scaffolder database (DATABASE_URL)."
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id = aws_secretsmanager_secret.database_url.id
  # sslmode=require: encrypted connections (RDS for PostgreSQL 15 and later refuses others by
  # default); the server certificate is not verified against the RDS CA.
  secret_string = "postgres://${aws_db_instance.scaffolder.username}:${random_password.database.result}@${aws_db_instance.scaffolder.address}:${aws_db_instance.scaffolder.port}/${aws_db_instance.scaffolder.db_name}?sslmode=require"
}

resource "aws_secretsmanager_secret" "github_integration" {
  count = local.github_enabled ? 1 : 0

  name                    = "${var.name}/github-integration"
  description             = "integrations.github (GitHub App id and private key) as JSON (APP_CONFIG_integrations_github)."
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "github_integration" {
  count = local.github_enabled ? 1 : 0

  secret_id     = aws_secretsmanager_secret.github_integration[0].id
  secret_string = jsonencode(local.github_integration)

  lifecycle {
    precondition {
      condition     = var.github_app_private_key != null
      error_message = "github_app_private_key is required when github_app_id is set."
    }
  }
}

resource "aws_secretsmanager_secret" "cognito_client_secret" {
  name                    = "${var.name}/cognito-client-secret"
  description             = "Client secret of the Cognito app client (auth.providers.cognito.<env>.clientSecret)."
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_secretsmanager_secret_version" "cognito_client_secret" {
  secret_id     = aws_secretsmanager_secret.cognito_client_secret.id
  secret_string = aws_cognito_user_pool_client.scaffolder.client_secret
}
