require "subaddress";
if address :user "to" "carol" { discard; }
