require "body";
if body :contains "room 42" { discard; }
