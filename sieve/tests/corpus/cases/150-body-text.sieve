require "body";
if body :text :contains "report" { discard; }
