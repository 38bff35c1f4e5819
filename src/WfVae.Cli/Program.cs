Console.WriteLine("wfvae");
