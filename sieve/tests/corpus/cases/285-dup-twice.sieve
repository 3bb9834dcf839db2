require "duplicate";
if duplicate { discard; }
if duplicate :handle "x" { discard; }
