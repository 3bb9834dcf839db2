require "relational";
if header :value "ge" "subject" "N" { discard; } else { keep; }
