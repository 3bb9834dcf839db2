require "editheader";
addheader "X-Tmp" "1";
deleteheader "x-tmp";
if not exists "x-tmp" { discard; }
