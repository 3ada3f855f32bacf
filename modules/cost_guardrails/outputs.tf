output "name" {
  description = "Budget name."
  value       = aws_budgets_budget.this.name
}
