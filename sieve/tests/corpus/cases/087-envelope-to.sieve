require "envelope";
if envelope :is "to" "bob@example.net" { discard; }
