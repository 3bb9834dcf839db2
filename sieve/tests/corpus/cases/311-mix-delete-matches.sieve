require "editheader";
deleteheader :matches "subject" "*Friday";
if not exists "subject" { discard; }
