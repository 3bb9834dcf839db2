if address :domain :is "from" "example.com" { discard; }
