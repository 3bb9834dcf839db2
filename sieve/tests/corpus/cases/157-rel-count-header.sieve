# message: list.eml
require ["relational", "comparator-i;ascii-numeric"];
if header :count "ge" :comparator "i;ascii-numeric" "x-mailing-list" "2" { discard; }
