# message: list.eml
if address :is "to" "news@lists.example.org" { discard; }
