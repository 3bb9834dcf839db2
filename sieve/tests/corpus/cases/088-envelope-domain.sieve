require "envelope";
if envelope :domain :is "from" "EXAMPLE.com" { discard; }
