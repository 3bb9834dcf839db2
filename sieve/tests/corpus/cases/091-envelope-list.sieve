# to: x@example.org
require "envelope";
if envelope :is ["from", "to"] "x@example.org" { discard; }
