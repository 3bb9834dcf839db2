require ["comparator-i;ascii-numeric", "relational"];
if header :value "gt" :comparator "i;ascii-numeric" "x-priority" "10" { discard; }
