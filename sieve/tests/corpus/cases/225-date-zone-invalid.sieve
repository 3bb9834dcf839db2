require "date";
if date :zone "EST" :matches "date" "year" "*" { discard; } else { redirect "x@example.org"; }
