require "body";
if body :contains "room 43" { discard; } else { keep; }
