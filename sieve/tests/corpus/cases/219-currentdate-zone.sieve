require ["date", "relational"];
if currentdate :zone "+0000" :value "lt" "year" "3000" { discard; }
