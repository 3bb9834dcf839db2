require ["relational", "comparator-i;ascii-numeric"];
if header :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "2" { discard; } else { keep; }
