require "duplicate";
if duplicate :uniqueid "abc" :seconds 60 { discard; } else { keep; }
