require ["date", "relational"];
if date :value "ge" "date" "date" "2025-01-01" { discard; }
