require "environment";
if environment :matches "location" "*" { discard; }
