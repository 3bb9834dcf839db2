require "envelope";
if envelope :all :is "from" "ALICE@example.com" { discard; }
