require ["relational"];
if address :value "gt" :domain "from" "example.b" { discard; }
