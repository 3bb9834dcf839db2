require ["include", "fileinto"];
fileinto "BeforeReturn";
return;
fileinto "AfterReturn";
