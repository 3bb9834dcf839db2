# message: list.eml
if address :matches :domain "from" "*.example.org" { discard; }
