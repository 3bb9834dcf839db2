# message: list.eml
require "body";
if body :raw :contains "UNSUBSCRIBE" { discard; }
