output "instance_id" {
  description = "EC2 instance id."
  value       = aws_instance.this.id
}

output "public_ip" {
  description = "Public IP address (null in a private subnet)."
  value       = aws_instance.this.public_ip
}

output "private_ip" {
  description = "Private IP address."
  value       = aws_instance.this.private_ip
}

output "security_group_id" {
  description = "Security group id."
  value       = aws_security_group.this.id
}

output "stop_schedule_arn" {
  description = "ARN of the off-hours stop schedule (null without stop_schedule)."
  value       = one(aws_scheduler_schedule.stop[*].arn)
}
