from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from django_kling.models import VideoRequest

from .models import Product


def product_list(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/product_list.html", {"products": Product.objects.all()})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product, pk=pk)
    clip = (VideoRequest.objects.for_object(product).filter(status="succeeded")
            .select_related("video", "poster").first())
    return render(request, "shop/product_detail.html", {"product": product, "clip": clip})
