require ["spamtestplus", "relational", "comparator-i;ascii-numeric"];
if spamtest :percent :value "ge" :comparator "i;ascii-numeric" "45" { discard; }
