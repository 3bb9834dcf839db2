require ["variables", "relational"];
set "x" "banana";
if string :value "gt" "${x}" "apple" { discard; }
