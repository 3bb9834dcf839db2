# message: list.eml
require "body";
if body :contains "café" { discard; }
