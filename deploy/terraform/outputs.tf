output "alb_dns_name" {
  description = "DNS name of the load balancer: point the service's host name at it (an alias or CNAME record)."
  value       = aws_lb.scaffolder.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.scaffolder.zone_id
}

output "ecr_repository_url" {
  description = "Push images here, tagged with the image_tag you deploy."
  value       = aws_ecr_repository.scaffolder.repository_url
}

output "cluster_name" {
  description = "The ECS cluster."
  value       = aws_ecs_cluster.scaffolder.name
}

output "api_service_name" {
  description = "The API's ECS service."
  value       = aws_ecs_service.api.name
}

output "worker_service_name" {
  description = "The workers' ECS service."
  value       = aws_ecs_service.worker.name
}

output "migrate_task_definition_arn" {
  description = "Task definition of `scaffolder migrate` (runs migrate_image_tag, or image_tag)."
  value       = aws_ecs_task_definition.migrate.arn
}

output "run_migrate_command" {
  description = "AWS CLI command that starts the migrate task and prints its ARN (README.md, Releasing)."
  value = join(" ", [
    "aws ecs run-task",
    "--cluster ${aws_ecs_cluster.scaffolder.name}",
    "--task-definition ${aws_ecs_task_definition.migrate.arn}",
    "--launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", var.private_subnet_ids)}],securityGroups=[${aws_security_group.tasks.id}],assignPublicIp=DISABLED}'",
    "--query 'tasks[0].taskArn' --output text",
  ])
}

output "task_security_group_ids" {
  description = "Security groups of the API tasks and of the other tasks (workers, janitor, migrate), for extra egress rules."
  value = {
    api   = aws_security_group.api.id
    tasks = aws_security_group.tasks.id
  }
}

output "database_address" {
  description = "Host name of the PostgreSQL instance (reachable only from the tasks' security groups)."
  value       = aws_db_instance.scaffolder.address
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding DATABASE_URL."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "cognito_user_pool_id" {
  description = "The Cognito user pool; create users here."
  value       = aws_cognito_user_pool.scaffolder.id
}

output "cognito_client_id" {
  description = "Id of the Cognito app client (auth.providers.cognito.<env>.clientId)."
  value       = aws_cognito_user_pool_client.scaffolder.id
}

output "cognito_issuer" {
  description = "Token issuer (auth.providers.cognito.<env>.issuer)."
  value       = local.cognito_issuer
}

output "cognito_hosted_ui_url" {
  description = "Base URL of the Cognito hosted UI (OAuth endpoints under /oauth2/)."
  value       = "https://${aws_cognito_user_pool_domain.scaffolder.domain}.auth.${local.region}.amazoncognito.com"
}

output "queue_metric_namespace" {
  description = "CloudWatch namespace of scaffolder_queue_depth (dimension: status)."
  value       = local.metrics_namespace
}
