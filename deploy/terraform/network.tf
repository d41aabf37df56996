# Security groups. Nothing reaches a task except the load balancer reaching the API's port;
# only the tasks reach the database. Tasks may open HTTPS connections (ECR, CloudWatch, Secrets
# Manager, Cognito's keys, GitHub) and PostgreSQL connections to the database, nothing else: add
# rules to the output security groups if templates fetch from plain-HTTP hosts.

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "Load balancer of the scaffolder API"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  for_each = toset(var.alb_ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP, redirected to HTTPS"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to the API tasks"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
}

# The API tasks.
resource "aws_security_group" "api" {
  name        = "${var.name}-api"
  description = "scaffolder api tasks"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
}

# Workers, the janitor and the migrate task: no inbound traffic at all (their health checks run
# inside the container, the metrics sidecar scrapes over localhost).
resource "aws_security_group" "tasks" {
  name        = "${var.name}-tasks"
  description = "scaffolder worker, janitor and migrate tasks"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = {
    api   = aws_security_group.api.id
    tasks = aws_security_group.tasks.id
  }

  security_group_id = each.value
  description       = "HTTPS to AWS APIs, Cognito and GitHub"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "to_database" {
  for_each = {
    api   = aws_security_group.api.id
    tasks = aws_security_group.tasks.id
  }

  security_group_id            = each.value
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "database" {
  name        = "${var.name}-database"
  description = "scaffolder PostgreSQL"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "database" {
  for_each = {
    api   = aws_security_group.api.id
    tasks = aws_security_group.tasks.id
  }

  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the scaffolder (${each.key} security group)"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}
