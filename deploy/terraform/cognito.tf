# Cognito: the user pool whose tokens the API accepts (auth.providers.cognito.<environment>), an
# app client for the frontend (Backstage's Cognito sign-in) and the hosted UI domain. The API checks
# a token's signature against <issuer>/.well-known/jwks.json, its issuer, and its audience (ID
# tokens) or client_id (access tokens) against the app client's id, then maps it to a catalog User
# with sign_in_resolver.

locals {
  cognito_issuer = "https://${aws_cognito_user_pool.scaffolder.endpoint}"
}

resource "aws_cognito_user_pool" "scaffolder" {
  name                = var.name
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  # Users sign in with their email address, which the default resolver matches against the
  # catalog's User entities (spec.profile.email).
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]

  # An internal portal: administrators invite users, nobody signs up alone.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 7
  }

  mfa_configuration = var.cognito_mfa_configuration

  software_token_mfa_configuration {
    enabled = true
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  tags = var.tags
}

resource "aws_cognito_user_pool_client" "scaffolder" {
  name         = var.name
  user_pool_id = aws_cognito_user_pool.scaffolder.id

  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = ["openid", "email", "profile"]
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.cognito_callback_urls
  logout_urls                          = var.cognito_logout_urls

  explicit_auth_flows           = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
  prevent_user_existence_errors = "ENABLED"
}

resource "aws_cognito_user_pool_domain" "scaffolder" {
  domain       = var.cognito_domain_prefix
  user_pool_id = aws_cognito_user_pool.scaffolder.id
}
