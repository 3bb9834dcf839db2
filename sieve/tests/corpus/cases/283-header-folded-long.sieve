# message: list.eml
if header :contains "list-id" "news.lists" { discard; }
