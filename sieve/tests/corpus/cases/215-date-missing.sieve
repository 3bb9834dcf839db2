require "date";
if date :matches "x-missing" "date" "*" { discard; } else { keep; }
