# message: list.eml
require ["index", "relational", "comparator-i;ascii-numeric"];
if header :index 1 :count "eq" :comparator "i;ascii-numeric" "x-mailing-list" "1" { discard; } else { keep; }
