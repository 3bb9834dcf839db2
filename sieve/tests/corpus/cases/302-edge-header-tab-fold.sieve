# message: list.eml
if header :contains "list-id" "Example News" { discard; }
