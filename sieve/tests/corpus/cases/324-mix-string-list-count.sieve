require ["variables", "relational", "comparator-i;ascii-numeric"];
set "a" "1";
if string :count "eq" :comparator "i;ascii-numeric" ["${a}", "${b}", "c"] "2" { discard; }
