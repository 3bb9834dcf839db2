# to: bob+x@example.net
require ["subaddress", "envelope"];
if envelope :user "to" "bob" { discard; }
