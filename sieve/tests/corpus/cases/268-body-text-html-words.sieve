# message: list.eml
require "body";
if body :text :contains "reviews" { discard; }
