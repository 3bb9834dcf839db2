require "date";
if date :is "date" "year" "2025" { discard; }
