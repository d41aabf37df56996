# RDS PostgreSQL in private subnets, encrypted, reachable only from the scaffolder's tasks.

resource "random_password" "database" {
  length = 40
  # Letters and digits only: the password goes into a postgres:// URL unescaped.
  special = false
}

resource "aws_db_subnet_group" "scaffolder" {
  name       = var.name
  subnet_ids = local.database_subnet_ids
  tags       = var.tags
}

resource "aws_db_instance" "scaffolder" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true

  db_name  = "scaffolder"
  username = "scaffolder"
  password = random_password.database.result
  port     = 5432

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.scaffolder.name
  vpc_security_group_ids = [aws_security_group.database.id]
  publicly_accessible    = false

  backup_retention_period    = var.db_backup_retention_days
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  deletion_protection        = var.deletion_protection
  skip_final_snapshot        = !var.deletion_protection
  final_snapshot_identifier  = "${var.name}-final"

  tags = var.tags
}
