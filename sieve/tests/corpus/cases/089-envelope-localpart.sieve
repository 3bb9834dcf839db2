require "envelope";
if envelope :localpart :contains "to" "bo" { discard; }
