require "relational";
if header :value "ne" "x-priority" "3" { discard; } else { keep; }
